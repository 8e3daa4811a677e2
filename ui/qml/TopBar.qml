// The window's top bar: sidebar toggle, the loaded model (or load progress with Cancel), the
// device badge and the library and settings buttons. Emits requests; Main.qml acts on them.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Nibble.Bridge

ToolBar {
    id: bar
    property var engine: null
    property var appController: null
    property bool sidebarVisible: true
    signal toggleSidebar()
    signal showLibrary()
    signal showDashboard()
    signal showSettings()
    signal openModel()
    signal showQuantizer()

    readonly property bool loading: engine ? engine.modelState === EngineController.Loading : false
    Accessible.name: qsTr("Main toolbar")

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 6
        anchors.rightMargin: 6
        spacing: 6

        ToolButton {
            text: bar.sidebarVisible ? qsTr("Hide chats") : qsTr("Chats")
            Accessible.name: bar.sidebarVisible ? qsTr("Hide the conversation list") : qsTr("Show the conversation list")
            onClicked: bar.toggleSidebar()
        }
        Label {
            text: qsTr("Nibble")
            font.bold: true
            font.pointSize: Qt.application.font.pointSize * 1.2
            Accessible.name: qsTr("Application name")
        }
        Item { Layout.fillWidth: true }

        RowLayout {
            visible: bar.loading
            spacing: 6
            Label {
                text: qsTr("Loading %1…").arg(bar.appController ? bar.appController.modelName : "")
                elide: Text.ElideMiddle
                Layout.maximumWidth: fm.averageCharacterWidth * 36
                Accessible.name: qsTr("Model loading status")
            }
            ProgressBar {
                from: 0
                to: 1
                value: bar.engine ? bar.engine.loadProgress : 0
                Layout.preferredWidth: fm.averageCharacterWidth * 18
                Accessible.name: qsTr("Load progress")
            }
            Button {
                text: qsTr("Cancel")
                Accessible.name: qsTr("Cancel loading the model")
                onClicked: bar.engine.cancelLoad()
            }
        }

        ToolButton {
            visible: !bar.loading
            text: bar.engine && bar.engine.modelName.length > 0 ? bar.engine.modelName : qsTr("No model — open one")
            Layout.maximumWidth: fm.averageCharacterWidth * 40
            Accessible.name: qsTr("Loaded model: %1").arg(text)
            ToolTip.visible: hovered
            ToolTip.text: bar.engine && bar.engine.modelPath.length > 0 ? bar.engine.modelPath : qsTr("Open a model folder (Ctrl+O)")
            onClicked: bar.engine && bar.engine.modelName.length > 0 ? bar.showLibrary() : bar.openModel()
        }
        DeviceBadge {
            text: bar.appController ? bar.appController.deviceName : qsTr("CPU")
        }
        ToolButton {
            text: qsTr("Models")
            Accessible.name: qsTr("Model library")
            onClicked: bar.showLibrary()
        }
        ToolButton {
            objectName: "dashboardButton"
            text: qsTr("Dashboard")
            Accessible.name: qsTr("Memory and speed dashboard")
            onClicked: bar.showDashboard()
        }
        ToolButton {
            text: qsTr("Quantize")
            Accessible.name: qsTr("Open the quantization wizard")
            onClicked: bar.showQuantizer()
        }
        ToolButton {
            text: qsTr("Settings")
            Accessible.name: qsTr("Settings")
            onClicked: bar.showSettings()
        }
    }

    FontMetrics { id: fm }
}
