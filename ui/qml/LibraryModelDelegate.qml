// One model of the library: name, format, size and folder, with Load and Forget.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Frame {
    id: row
    required property var modelId
    required property string name
    required property string path
    required property string format
    required property string architecture
    required property string parameters
    required property string size
    property bool loaded: false
    signal loadRequested()
    signal forgetRequested()
    Accessible.name: name

    RowLayout {
        anchors.fill: parent
        spacing: 12
        ColumnLayout {
            Layout.fillWidth: true
            spacing: 2
            Label {
                text: row.loaded ? qsTr("%1 (loaded)").arg(row.name) : row.name
                font.bold: true
                Accessible.name: text
            }
            Label {
                text: [row.architecture, row.parameters, row.format, row.size].filter(s => s.length > 0).join(" · ")
                opacity: 0.8
                Accessible.name: text
            }
            Label {
                Layout.fillWidth: true
                text: row.path
                elide: Text.ElideMiddle
                opacity: 0.6
                font.pointSize: Qt.application.font.pointSize * 0.85
                Accessible.name: qsTr("Folder: %1").arg(text)
            }
        }
        Button {
            text: qsTr("Load…")
            Accessible.name: qsTr("Load %1").arg(row.name)
            onClicked: row.loadRequested()
        }
        Button {
            text: qsTr("Forget")
            Accessible.name: qsTr("Forget %1").arg(row.name)
            onClicked: row.forgetRequested()
        }
    }
}
