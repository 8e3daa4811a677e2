// The main window: title "Nibble", a header with the model and device badge, and the main view.
// Data comes from the `app` context object (app/bridge AppController).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ApplicationWindow {
    id: window
    width: 1100
    height: 720
    minimumWidth: 640
    minimumHeight: 420
    visible: true
    title: app && app.modelName.length > 0 ? qsTr("Nibble — %1").arg(app.modelName) : qsTr("Nibble")

    header: ToolBar {
        Accessible.name: qsTr("Main toolbar")
        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: 12
            anchors.rightMargin: 12
            Label {
                text: qsTr("Nibble")
                font.bold: true
                font.pointSize: Qt.application.font.pointSize * 1.3
                Accessible.name: qsTr("Application name")
            }
            Item { Layout.fillWidth: true }
            Label {
                text: app ? app.modelName : ""
                elide: Text.ElideMiddle
                Layout.maximumWidth: 360
                Accessible.name: qsTr("Loaded model")
            }
            Rectangle {
                radius: height / 2
                color: palette.highlight
                implicitHeight: deviceLabel.implicitHeight + 8
                implicitWidth: deviceLabel.implicitWidth + 20
                Accessible.name: qsTr("Device")
                Accessible.role: Accessible.StaticText
                Label {
                    id: deviceLabel
                    anchors.centerIn: parent
                    text: app ? app.deviceName : qsTr("CPU")
                    color: palette.highlightedText
                }
            }
        }
    }

    ColumnLayout {
        anchors.centerIn: parent
        spacing: 12
        width: Math.min(parent.width - 48, 560)
        Label {
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            wrapMode: Text.Wrap
            text: app && app.modelName.length > 0
                  ? qsTr("%1 is ready. Start a conversation below.").arg(app.modelName)
                  : qsTr("Drop a model folder on this window to load it.")
            font.pointSize: Qt.application.font.pointSize * 1.4
            Accessible.name: qsTr("Status")
        }
        Label {
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            wrapMode: Text.Wrap
            opacity: 0.7
            text: app ? app.modelPath : ""
            Accessible.name: qsTr("Model folder")
        }
    }
}
