// What an empty chat shows: that the model is ready (or how to get one), and a few tips.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Nibble.Bridge

Item {
    id: empty
    property var engine: null
    signal openModelRequested()
    readonly property int state_: engine ? engine.modelState : EngineController.NoModel

    ColumnLayout {
        anchors.centerIn: parent
        width: Math.min(parent.width - 48, fm.averageCharacterWidth * 70)
        spacing: 12

        Label {
            objectName: "emptyTitle"
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            wrapMode: Text.Wrap
            font.pointSize: Qt.application.font.pointSize * 1.6
            font.bold: true
            text: empty.state_ === EngineController.Loaded ? qsTr("%1 is ready").arg(empty.engine.modelName)
                : empty.state_ === EngineController.Loading ? qsTr("Loading the model…")
                : qsTr("No model loaded")
            Accessible.name: qsTr("Status: %1").arg(text)
        }
        Label {
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            wrapMode: Text.Wrap
            opacity: 0.8
            text: empty.state_ === EngineController.Loaded
                  ? qsTr("Type a message below and press Enter. Shift+Enter starts a new line.")
                  : qsTr("Drop a model folder anywhere on this window, or open one with Ctrl+O.")
            Accessible.name: text
        }
        Button {
            Layout.alignment: Qt.AlignHCenter
            visible: empty.state_ !== EngineController.Loaded && empty.state_ !== EngineController.Loading
            text: qsTr("Open a model folder…")
            Accessible.name: text
            onClicked: empty.openModelRequested()
        }
        Label {
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            wrapMode: Text.Wrap
            opacity: 0.6
            font.pointSize: Qt.application.font.pointSize * 0.9
            text: qsTr("Ctrl+N new chat · Ctrl+K search · Ctrl+O open a model") + "\n"
                  + qsTr("Esc stop · Ctrl+Shift+R regenerate · Ctrl+, settings")
            Accessible.name: qsTr("Keyboard shortcuts")
        }
    }
    FontMetrics { id: fm }
}
